/* io/ is filled in by the data issue. */
typedef int shardnet_io_placeholder;
