package libgo

// EncodeSockaddr returns the bytes sa encodes to, as the kernel would get
// them, for the black-box round-trip tests of ParseSockaddr.
func EncodeSockaddr(sa Sockaddr) ([]byte, error) {
	p, n, err := sa.sockaddr()
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), sockaddrBytes(p, n)...), nil
}
