"""French names and Lyon-area places the people generator draws from."""

from __future__ import annotations

FIRST_NAMES = (
    "Jean", "Marie", "Pierre", "Nathalie", "Michel", "Isabelle", "Philippe", "Sylvie", "Alain", "Catherine",
    "Nicolas", "Christine", "Laurent", "Sandrine", "Stéphane", "Véronique", "Frédéric", "Valérie", "Olivier",
    "Céline", "Julien", "Aurélie", "Sébastien", "Émilie", "Thomas", "Julie", "Guillaume", "Camille", "Antoine",
    "Léa", "Maxime", "Manon", "Hugo", "Chloé", "Lucas", "Inès", "Théo", "Zoé", "Benoît", "Agnès", "Jérôme",
    "Hélène", "Cédric", "Anaïs", "Loïc", "Maëlle", "François", "Brigitte", "Patrick", "Martine", "Gérard",
    "Françoise", "Yves", "Monique", "Bernard", "Dominique", "Éric", "Sophie", "Didier", "Karine", "Romain",
    "Pauline", "Mathieu", "Audrey", "Damien", "Élodie", "Arnaud", "Laetitia", "Rémi", "Noémie",
)  # fmt: skip

LAST_NAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
    "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier",
    "Morel", "Girard", "André", "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez", "Legrand",
    "Garnier", "Faure", "Rousseau", "Blanc", "Guérin", "Muller", "Henry", "Roussel", "Nicolas", "Perrin",
    "Morin", "Mathieu", "Clément", "Gauthier", "Dumont", "Lopez", "Fontaine", "Chevalier", "Robin", "Masson",
    "Sanchez", "Gérard", "Nguyen", "Boyer", "Denis", "Lemaire", "Duval", "Joly", "Gautier", "Roger", "Roche",
    "Roy", "Noël", "Meyer", "Lucas", "Meunier", "Pérez", "Marchand", "Dufour", "Blanchard", "Barbier", "Brun",
    "Dumas", "Brunet", "Schmitt", "Leroux", "Colin", "Vidal", "Caron", "Picard", "Bourgeois", "Renaud",
)  # fmt: skip

COMPANY_KINDS = (
    "Boulangerie", "Restaurant", "Cabinet médical", "Pharmacie", "SCI", "Garage", "Hôtel", "Copropriété",
    "Boucherie", "Salon de coiffure", "Crèche", "Agence immobilière", "Cabinet dentaire", "Brasserie",
    "Fromagerie", "Laboratoire", "École", "Résidence",
)  # fmt: skip

STREETS = (
    "rue de la République", "avenue Jean Jaurès", "rue Garibaldi", "cours Lafayette", "rue Paul Bert",
    "avenue Berthelot", "rue Victor Hugo", "boulevard des Belges", "rue Duguesclin", "rue Vendôme",
    "avenue Félix Faure", "rue de Marseille", "grande rue de la Croix-Rousse", "rue du Président Édouard Herriot",
    "chemin de Montessuy", "avenue Rockefeller", "rue Anatole France", "rue Léon Blum", "avenue Roger Salengro",
    "rue Émile Zola", "rue des Tuiliers", "route de Vienne", "rue Pasteur", "avenue de Saxe", "rue de Créqui",
    "montée de Choulans", "rue Henri Barbusse", "avenue Franklin Roosevelt", "rue du Dauphiné", "quai Perrache",
)  # fmt: skip

# (city, postal code, latitude, longitude, weight ~ share of households served)
COMMUNES = (
    ("Lyon", "69001", 45.7676, 4.8343, 3), ("Lyon", "69002", 45.7485, 4.8270, 3),
    ("Lyon", "69003", 45.7597, 4.8566, 6), ("Lyon", "69004", 45.7780, 4.8270, 3),
    ("Lyon", "69005", 45.7570, 4.8030, 3), ("Lyon", "69006", 45.7700, 4.8520, 5),
    ("Lyon", "69007", 45.7450, 4.8420, 5), ("Lyon", "69008", 45.7350, 4.8700, 5),
    ("Lyon", "69009", 45.7740, 4.8050, 4), ("Villeurbanne", "69100", 45.7719, 4.8902, 8),
    ("Vénissieux", "69200", 45.6975, 4.8867, 4), ("Caluire-et-Cuire", "69300", 45.7950, 4.8460, 3),
    ("Bron", "69500", 45.7386, 4.9130, 3), ("Vaulx-en-Velin", "69120", 45.7780, 4.9190, 3),
    ("Saint-Priest", "69800", 45.6960, 4.9440, 3), ("Oullins", "69600", 45.7140, 4.8070, 2),
    ("Écully", "69130", 45.7750, 4.7780, 2), ("Tassin-la-Demi-Lune", "69160", 45.7640, 4.7560, 2),
    ("Meyzieu", "69330", 45.7670, 5.0030, 2), ("Rillieux-la-Pape", "69140", 45.8200, 4.8980, 2),
    ("Décines-Charpieu", "69150", 45.7690, 4.9590, 2), ("Sainte-Foy-lès-Lyon", "69110", 45.7340, 4.7930, 2),
    ("Saint-Genis-Laval", "69230", 45.6960, 4.7930, 2), ("Givors", "69700", 45.5900, 4.7690, 1),
    ("Craponne", "69290", 45.7450, 4.7230, 1), ("Dardilly", "69570", 45.8060, 4.7530, 1),
)  # fmt: skip

EMAIL_PROVIDERS = ("gmail.com", "orange.fr", "free.fr", "sfr.fr", "hotmail.fr", "laposte.net", "wanadoo.fr", "yahoo.fr")
EMAIL_PROVIDER_WEIGHTS = (0.38, 0.17, 0.12, 0.07, 0.1, 0.06, 0.05, 0.05)

# Customer-service agents (the first is Claire, the specification's service manager) and technicians
# (the specification names Gaëtan, Marc and Julien). Accents are deliberate: they reach the CDR files.
AGENTS = (
    ("Claire", "Morel"), ("Hélène", "Garnier"), ("Inès", "Dubois"), ("Sophie", "Perrin"), ("Zoé", "Lambert"),
    ("Léa", "Fontaine"), ("Céline", "Roussel"), ("Noémie", "Faure"),
)  # fmt: skip
TECHNICIANS = (
    ("Gaëtan", "Roux"), ("Marc", "Bertrand"), ("Julien", "Moreau"), ("Théo", "Girard"), ("Rémi", "Clément"),
    ("Loïc", "Mercier"), ("Jérôme", "Picard"), ("Damien", "Joly"), ("Cédric", "Brunet"), ("Benoît", "Caron"),
)  # fmt: skip
TECHNICIAN_SKILLS = ("chaudière gaz", "pompe à chaleur", "climatisation", "VMC", "plomberie", "électricité")
