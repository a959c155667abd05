-- Dead letters are deleted after DEAD_LETTER_RETENTION_SECONDS (the cron looks them up by age).
CREATE INDEX dead_letters_received_idx ON dead_letters (received_at);
