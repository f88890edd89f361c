-- One server, four databases: the warehouse, Airflow's metadata, the simulated ERP and
-- Superset's metadata (dashboards, users).
create database airflow;
create database sage_erp;
create database superset;
