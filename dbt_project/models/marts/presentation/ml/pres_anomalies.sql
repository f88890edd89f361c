-- The models dashboard's recent anomalies: what the detectors flag (abnormal days of the
-- contact-centre KPIs, suspicious ERP documents) over the 30 days before the latest scoring run,
-- newest first, each with its explanation in French and whether that run found it new.
with anomalies as (
    select * from {{ ref('stg_ml__anomalies') }}
),

latest_run as (
    select max(last_detected_on) as as_of_date
    from anomalies
)

select
    anomalies.anomaly_kind::text as anomaly_kind,
    anomalies.anomaly_reference::text as anomaly_reference,
    anomalies.anomaly_date::date as anomaly_date,
    (case anomalies.anomaly_kind
        when 'call_volume' then 'Volume d''appels'
        when 'call_peak_30pct' then 'Pic d''appels (+30 %)'
        when 'abandonment_rate' then 'Taux d''abandon'
        when 'ticket_volume' then 'Tickets créés'
        when 'first_reply_time' then 'Délai de première réponse'
        when 'erp_duplicate' then 'Doublon de facture'
        when 'erp_credit_without_invoice' then 'Avoir sans facture'
        when 'erp_night_weekend' then 'Saisie nuit ou week-end'
        when 'erp_abnormal_amount' then 'Montant anormal'
        else anomalies.anomaly_kind
    end)::text as kind_label,
    (case anomalies.entity when 'document' then 'ERP' else 'Service client' end)::text as area_label,
    anomalies.explanation::text as explanation,
    round(anomalies.anomaly_score::numeric, 1) as anomaly_score,
    anomalies.first_detected_on::date as first_detected_on,
    (anomalies.first_detected_on = latest_run.as_of_date)::boolean as is_new
from anomalies
cross join latest_run
where anomalies.anomaly_date > latest_run.as_of_date - 30
