-- Prefect keeps its own database beside the archive index.
CREATE DATABASE prefect OWNER dangan;
-- The archive's keyring of shredding keys (DANGAN_KEYRING_URL), apart from the index it protects.
CREATE DATABASE dangan_keyring OWNER dangan;
