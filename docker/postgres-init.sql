-- One server, four databases: the warehouse, Airflow's metadata, the simulated ERP and
-- Superset's metadata (dashboards, users).
create database airflow;
create database sage_erp;
create database superset;
-- BI's read-only role reaches the warehouse and nothing else: PostgreSQL lets PUBLIC (every
-- role) connect to and create temporary tables in every database by default. Owners keep theirs.
revoke connect, temporary on database airflow, sage_erp, superset, postgres, template1 from public;
revoke temporary on database warehouse from public;
