-- Zuora hands us payment amounts in cents; everything downstream works in units.
select
    id as payment_id,
    account_id,
    amount / 100 as amount,
    effective_date as paid_on
from {{ source('zuora', 'payment') }}
