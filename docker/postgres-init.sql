-- One server, three databases: the warehouse, Airflow's metadata, and the simulated ERP.
create database airflow;
create database sage_erp;
