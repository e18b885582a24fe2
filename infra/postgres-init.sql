-- Prefect keeps its own database beside the archive index.
CREATE DATABASE prefect OWNER dangan;
