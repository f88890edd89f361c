alter table dbo."F_COMPTET" drop column "CT_EMail";
