-- Sign-ins in progress travel sealed in the browser's cookie now (package
-- signin): a table of them had to be bounded, and anyone could fill it.
DROP TABLE IF EXISTS login_states;
