"""Business vocabulary shared by the world and the exporters: motives, segments, items."""

from __future__ import annotations

# Ticket categories and CTI queues; the order is the integer code used in the activity tables.
MOTIVES = ("RDV_SAV", "DEVIS", "RECLAMATION", "FACTURATION", "INFORMATION", "URGENCE_PANNE")
RDV_SAV, DEVIS, RECLAMATION, FACTURATION, INFORMATION, URGENCE_PANNE = range(len(MOTIVES))
MOTIVE_QUEUE = {
    "RDV_SAV": "SAV",
    "DEVIS": "DEVIS",
    "RECLAMATION": "RECLAMATION",
    "FACTURATION": "FACTURATION",
    "INFORMATION": "INFO",
    "URGENCE_PANNE": "URGENCE",
}

# RFM segments of the specification (004). The last five are long-run buying profiles a customer
# keeps; "New Customers" is a phase every customer goes through during its first months.
VIP_CHAMPIONS = "VIP Champions"
LOYAL = "Loyal Customers"
AT_RISK = "At Risk / Dormant"
NEW = "New Customers"
POTENTIAL = "Potential Loyalists"
LOST = "Lost Customers"
SEGMENTS = (VIP_CHAMPIONS, LOYAL, AT_RISK, NEW, POTENTIAL, LOST)
PROFILES = (VIP_CHAMPIONS, LOYAL, POTENTIAL, AT_RISK, LOST)
PROFILE_SHARES = (0.09, 0.26, 0.33, 0.19, 0.13)
NEW_CUSTOMER_DAYS = 150

# Per profile: contact engagement (calls, e-mails), intervention demand, invoice basket multiplier.
PROFILE_ENGAGEMENT = {VIP_CHAMPIONS: 2.0, LOYAL: 1.4, POTENTIAL: 1.0, AT_RISK: 0.9, LOST: 0.7}
PROFILE_INTERVENTIONS = {VIP_CHAMPIONS: 5.0, LOYAL: 2.2, POTENTIAL: 0.45, AT_RISK: 1.2, LOST: 0.8}
PROFILE_BASKET = {VIP_CHAMPIONS: 2.6, LOYAL: 1.0, POTENTIAL: 0.75, AT_RISK: 0.9, LOST: 0.5}
PROFILE_VIP_PROBABILITY = {VIP_CHAMPIONS: 0.55, LOYAL: 0.12, POTENTIAL: 0.04, AT_RISK: 0.03, LOST: 0.02}

INTERVENTION_TYPES = ("annual_maintenance", "breakdown", "installation")
MAINTENANCE, BREAKDOWN, INSTALLATION = range(len(INTERVENTION_TYPES))
BOOKING_CHANNELS = ("phone", "portal", "email", "technician")
TICKET_SOURCES = ("PHONE", "EMAIL", "FORM")
PHONE, EMAIL, FORM = range(len(TICKET_SOURCES))

# Sage items: (AR_Ref, AR_Design, FA_CodeFamille, AR_PrixVen)
ARTICLES = (
    ("MO-DEP", "Main d'oeuvre dépannage (heure)", "DEPANNAGE", 68.0),
    ("DEP-FORF", "Forfait déplacement dépannage", "DEPANNAGE", 45.0),
    ("DEP-URG", "Majoration intervention urgente", "DEPANNAGE", 60.0),
    ("ENT-CHAUD", "Entretien annuel chaudière gaz", "ENTRETIEN", 145.0),
    ("ENT-PAC", "Entretien annuel pompe à chaleur", "ENTRETIEN", 190.0),
    ("ENT-CLIM", "Entretien climatisation réversible", "ENTRETIEN", 160.0),
    ("ENT-VMC", "Nettoyage et contrôle VMC", "ENTRETIEN", 95.0),
    ("INST-CHAUD", "Installation chaudière à condensation", "INSTALLATION", 2400.0),
    ("INST-PAC", "Installation pompe à chaleur air/eau", "INSTALLATION", 5200.0),
    ("INST-CLIM", "Installation climatisation split", "INSTALLATION", 1650.0),
    ("INST-BALLON", "Remplacement ballon eau chaude", "INSTALLATION", 980.0),
    ("INST-THERMO", "Pose thermostat connecté", "INSTALLATION", 260.0),
    ("PCE-VANNE", "Vanne 3 voies", "PIECES", 185.0),
    ("PCE-CIRCUL", "Circulateur chauffage", "PIECES", 240.0),
    ("PCE-SONDE", "Sonde de température", "PIECES", 42.0),
    ("PCE-ALLUM", "Électrode d'allumage", "PIECES", 38.0),
    ("PCE-VASE", "Vase d'expansion 18 L", "PIECES", 96.0),
    ("PCE-CARTE", "Carte électronique chaudière", "PIECES", 410.0),
    ("PCE-GAZ", "Recharge fluide frigorigène (kg)", "PIECES", 120.0),
    ("PCE-FILTRE", "Filtre à particules", "PIECES", 28.0),
    ("FOURN-DIV", "Fournitures et petit matériel", "PIECES", 1.0),
    ("CTR-PART", "Contrat d'entretien annuel particulier", "CONTRAT", 189.0),
    ("CTR-PRO", "Contrat de maintenance multi-sites", "CONTRAT", 1450.0),
)
LABOUR_ITEM_BY_TYPE = {MAINTENANCE: ("ENT-CHAUD", "ENT-PAC", "ENT-CLIM", "ENT-VMC"), BREAKDOWN: ("MO-DEP",)}
INSTALLATION_ITEMS = ("INST-CHAUD", "INST-PAC", "INST-CLIM", "INST-BALLON", "INST-THERMO")
PART_ITEMS = ("PCE-VANNE", "PCE-CIRCUL", "PCE-SONDE", "PCE-ALLUM", "PCE-VASE", "PCE-CARTE", "PCE-GAZ", "PCE-FILTRE")

# Company lines; the night emergency line is answered by the on-call technician.
COMPANY_LINE = "+33478650200"
NIGHT_LINE = "+33478650299"
EMAIL_DOMAIN = "service-client.local"
