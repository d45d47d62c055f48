"""The merchant dashboard at /dashboard: pages over the same services as the API.

A transport like `api/` and `hosted/`: each route authenticates the signed-in merchant
(`auth.viewer`), checks the form's CSRF token on a POST, calls one service and renders a
page (`render.page`). It works without JavaScript; every page is in ja, en and ko.
"""
