-- RFM features for the customer segmentation (004: K-Means on recency, frequency, monetary,
-- average basket, tenure and number of product categories), per customer with at least one
-- invoice, as of each month end of the history and the as-of day (the latest as_of_date is
-- the set to segment). Only invoices dated on or before as_of_date count.
with {{ ml_as_of_dates_ctes() }},

invoices as (
    select * from {{ ref('fct_invoices') }}
    where customer_id is not null
),

-- when each customer signed up (the same on every version of the type-2 dimension), and when the
-- CRM recorded it as lost (date_perte), if it did
customers as (
    select
        customer_id,
        min(customer_since) as customer_since,
        max(lost_date) as lost_date
    from {{ ref('dim_customer') }}
    group by customer_id
),

-- the item families each customer bought, and the first day it bought each
families as (
    select
        invoices.customer_id,
        items.item_family,
        min(invoices.invoice_date) as first_bought
    from invoices
    inner join {{ ref('stg_erp__document_lines') }} as invoice_lines
        on invoices.invoice_number = invoice_lines.document_number
    inner join {{ ref('stg_erp__items') }} as items on invoice_lines.item_ref = items.item_ref
    where invoices.document_kind = 'invoice'
    group by invoices.customer_id, items.item_family
),

purchases as (
    select
        as_of_dates.as_of_date,
        invoices.customer_id,
        min(invoices.invoice_date) filter (where invoices.document_kind = 'invoice') as first_purchase_date,
        max(invoices.invoice_date) filter (where invoices.document_kind = 'invoice') as last_purchase_date,
        count(*) filter (where invoices.document_kind = 'invoice') as frequency,
        sum(invoices.total_ht) filter (where invoices.document_kind = 'invoice') as invoiced_eur,
        percentile_cont(0.5) within group (order by invoices.total_ht)
        filter (where invoices.document_kind = 'invoice') as median_invoice_eur,
        coalesce(sum(invoices.total_ht) filter (where invoices.document_kind = 'credit_note'), 0) as credited_eur
    from as_of_dates
    inner join invoices on as_of_dates.as_of_date >= invoices.invoice_date
    group by as_of_dates.as_of_date, invoices.customer_id
),

category_counts as (
    select
        as_of_dates.as_of_date,
        families.customer_id,
        count(*) as category_count
    from as_of_dates
    inner join families on as_of_dates.as_of_date >= families.first_bought
    group by as_of_dates.as_of_date, families.customer_id
)

select
    purchases.customer_id || ':' || purchases.as_of_date as customer_as_of_key,
    purchases.customer_id,
    purchases.as_of_date,
    purchases.as_of_date = data_days.last_day as is_scoring_set,
    -- Recency: days since the last purchase
    (purchases.as_of_date - purchases.last_purchase_date)::integer as recency_days,
    -- Frequency: invoices
    purchases.frequency::integer as frequency,
    -- Monetary: amount spent, credit notes deducted (EUR excl. VAT)
    (purchases.invoiced_eur + purchases.credited_eur)::numeric(14, 2) as monetary_eur,
    -- Montant moyen par transaction
    round(purchases.invoiced_eur / nullif(purchases.frequency, 0), 2) as avg_basket_eur,
    -- the usual invoice: the median, which one installation among visits does not move as it moves the mean
    round(purchases.median_invoice_eur::numeric, 2) as median_basket_eur,
    -- Durée de vie client: days since the first purchase
    (purchases.as_of_date - purchases.first_purchase_date)::integer as tenure_days,
    -- Nombre de catégories de produits achetées (Sage item families)
    coalesce(category_counts.category_count, 0)::integer as category_count,
    -- Ancienneté: days since the customer signed up (or its first purchase, if earlier or unknown);
    -- tells a new customer from an old one whose first invoice the history happens to start with
    (
        purchases.as_of_date
        - least(coalesce(customers.customer_since, purchases.first_purchase_date), purchases.first_purchase_date)
    )::integer as customer_tenure_days,
    -- days since the CRM recorded the customer as lost, null while it was not lost as of as_of_date
    case
        when customers.lost_date <= purchases.as_of_date then (purchases.as_of_date - customers.lost_date)::integer
    end as days_since_lost,
    purchases.first_purchase_date,
    purchases.last_purchase_date
from purchases
cross join data_days
left join customers on purchases.customer_id = customers.customer_id
left join category_counts
    on purchases.customer_id = category_counts.customer_id and purchases.as_of_date = category_counts.as_of_date
where purchases.frequency > 0
