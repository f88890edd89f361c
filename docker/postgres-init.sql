-- One server, three databases: the warehouse, Airflow's metadata, and the simulated ERP.
create database airflow;
create database sage_erp;
-- BI's read-only role reaches the warehouse and nothing else: PostgreSQL lets PUBLIC (every
-- role) connect to and create temporary tables in every database by default. Owners keep theirs.
revoke connect, temporary on database airflow, sage_erp, postgres, template1 from public;
revoke temporary on database warehouse from public;
