-- The payment gateway reports amounts in cents; the shop's reports are in units.
select
    id as transaction_id,
    order_id,
    amount / 100 as amount,
    kind,
    processed_at
from {{ source('shopify', 'transaction') }}
