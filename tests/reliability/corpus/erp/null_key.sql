insert into dbo."F_COMPTET" ("CT_Num", "CT_Intitule", "CT_Telephone", "CT_EMail", "CT_Sommeil", "cbModification") values (null, 'Sans numéro', '0478000000', 'a@b.fr', 0, '2025-06-01 10:00:00');
