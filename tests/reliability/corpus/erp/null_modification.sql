insert into dbo."F_COMPTET" ("CT_Num", "CT_Intitule", "CT_Telephone", "CT_EMail", "CT_Sommeil", "cbModification") values ('CL900002', 'Sans date', '0478000000', 'a@b.fr', 0, null);
