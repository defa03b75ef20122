"""Planning: the execution plan document, its checks, and the planners that fill it."""
