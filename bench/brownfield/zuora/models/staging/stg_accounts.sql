select
    id as account_id,
    name as account_name,
    status as account_status,
    currency
from {{ source('zuora', 'account') }}
