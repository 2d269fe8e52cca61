-- TSA serial numbers: each process reserves a block of 2^24 serials at a time
-- (serial = block << 24 | n), so serials are unique across restarts and processes without a
-- database round trip per token.
CREATE SEQUENCE tsa_serial_block START 1;
