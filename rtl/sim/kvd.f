kvd_atomic.v
kvd_fifo_w64_d16.v
kvd_fifo_w72_d64.v
kvd_fifo_w75_d256.v
kvd_keyhash.v
kvd_memsys.v
kvd_rs.v
kvd_slab.v
