"""Object stores, envelope encryption, SQL index, audit log and drop folders."""
