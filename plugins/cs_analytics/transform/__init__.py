"""The transformation flow: dbt through Cosmos, the BI role, write-audit-publish of the marts."""
