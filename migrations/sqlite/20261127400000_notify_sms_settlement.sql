-- Written by: the notify service (fudian-notify). SendSms is not idempotent, so an SMS
-- whose request may have left without an answer (the sender died, or the request timed
-- out) is settled by the provider's receipt instead of being resent blindly: it waits
-- until `settle_by` for a receipt to its number, and is sent again only if none came.
ALTER TABLE notify.deliveries ADD COLUMN settle_by INTEGER;
CREATE INDEX notify.deliveries_unsettled ON deliveries (settle_by) WHERE settle_by IS NOT NULL;
CREATE INDEX notify.deliveries_by_recipient ON deliveries (recipient_hash)
    WHERE recipient_hash IS NOT NULL;

-- A receipt that matched no delivery when it came (it overtook the sender's record of
-- the send, or its delivery is waiting to be settled) is kept and tried again.
ALTER TABLE notify.receipts ADD COLUMN provider_message_id TEXT;
ALTER TABLE notify.receipts ADD COLUMN recipient_hash TEXT;
ALTER TABLE notify.receipts ADD COLUMN delivered INTEGER;
ALTER TABLE notify.receipts ADD COLUMN answer TEXT;
ALTER TABLE notify.receipts ADD COLUMN matched INTEGER NOT NULL DEFAULT 1;
CREATE INDEX notify.receipts_unmatched ON receipts (received_at) WHERE NOT matched;
