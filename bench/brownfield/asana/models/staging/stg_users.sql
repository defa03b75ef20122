select
    id as user_id,
    name as user_name,
    email
from {{ source('asana', 'user') }}
