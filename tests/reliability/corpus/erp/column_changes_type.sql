alter table dbo."F_COMPTET" alter column "CT_Sommeil" type text;
insert into dbo."F_COMPTET" ("CT_Num", "CT_Intitule", "CT_Telephone", "CT_EMail", "CT_Sommeil", "cbModification") values ('CL900009', 'Type', '0', 'a@b.fr', 'oui', '2025-06-01 10:00:00');
