kvd_fifo_w64_d16.v
kvd_fifo_w72_d64.v
kvd_keyhash.v
