"""The hosted checkout page: server-rendered HTML, no JavaScript needed, nothing external."""
