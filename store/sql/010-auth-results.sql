-- capmail schema, version 10: what SPF, DKIM and DMARC said of a message
-- from outside (lib/authres.h authres_summary(): "spf=pass dkim=none
-- dmarc=fail"), recorded on each of its grants; grantor_auth says which
-- of them authenticated the sender ("spf", "dkim") or "none". NULL where
-- no check was made (local submission, capmail's own mail, older grants).
ALTER TABLE grants ADD COLUMN auth_results text;
