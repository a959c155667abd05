-- Dead letters are deleted after DEAD_LETTER_RETENTION_SECONDS (the cron looks them up by age).
CREATE INDEX dead_letters_received_idx ON dead_letters (received_at);

-- Dead letters are now kept without the e-mail's link token; redact those kept before.
UPDATE dead_letters SET body = json_set(body, '$.template.token', '[redacted]')
WHERE (CASE WHEN json_valid(body) THEN json_type(body, '$.template.token') END) IS NOT NULL;
