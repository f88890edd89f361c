alter table dbo."F_COMPTET" add column "CT_Siret" varchar(15);
insert into dbo."F_COMPTET" ("CT_Num", "CT_Intitule", "CT_Telephone", "CT_EMail", "CT_Sommeil", "cbModification", "CT_Siret") values ('CL900010', 'Siret', '0', 'a@b.fr', 0, '2025-06-01 10:00:00', '12345678900011');
