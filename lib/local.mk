# lib/: infrastructure shared by every daemon; knows nothing about them.
noinst_LIBRARIES += lib/libcapmail.a
lib_libcapmail_a_SOURCES = \
	lib/buf.c lib/buf.h \
	lib/cfg.c lib/cfg.h \
	lib/conn.c lib/conn.h \
	lib/errors.c lib/errors.h \
	lib/log.c lib/log.h \
	lib/privdrop.c lib/privdrop.h
lib_libcapmail_a_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS) $(LIBETPAN_CFLAGS) $(OPENSSL_CFLAGS)
