"""tshark as the corpus oracle runs it: the pinned preferences of
tests/corpus/ORACLE.md (used with -n -2), shared by the live-traffic drivers."""

PREFS = [
    "tcp.analyze_sequence_numbers:TRUE", "tcp.relative_sequence_numbers:TRUE",
    "tcp.desegment_tcp_streams:TRUE", "tcp.reassemble_out_of_order:FALSE",
    "tcp.track_bytes_in_flight:TRUE", "tcp.check_checksum:FALSE",
    "tcp.try_heuristic_first:FALSE", "tcp.no_subdissector_on_error:TRUE",
    "ip.defragment:TRUE", "ip.check_checksum:FALSE", "ipv6.defragment:TRUE",
    "udp.check_checksum:FALSE", "udp.try_heuristic_first:FALSE",
    "dns.desegment_dns_messages:TRUE", "http.desegment_headers:TRUE",
    "http.desegment_body:TRUE", "tls.desegment_ssl_records:TRUE",
    "tls.desegment_ssl_application_data:TRUE",
]
