insert into dbo."F_COMPTET" ("CT_Num", "CT_Intitule", "CT_Telephone", "CT_EMail", "CT_Sommeil", "cbModification") values ('CL900008', 'Futur', '0', 'a@b.fr', 0, '2031-06-01 10:00:00');
