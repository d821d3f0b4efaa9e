package nbd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Handshake constants of doc/proto.md ("Newstyle negotiation", "Values").
const (
	nbdMagic      = 0x4e42444d41474943 // "NBDMAGIC", the INIT_PASSWD
	ihaveopt      = 0x49484156454f5054 // "IHAVEOPT", newstyle negotiation
	oldstyleMagic = 0x00420281861253   // oldstyle negotiation (unsupported)
	repMagic      = 0x3e889045565a9    // option reply magic

	flagFixedNewstyle  = 1 << 0 // handshake flag NBD_FLAG_FIXED_NEWSTYLE
	flagNoZeroes       = 1 << 1 // handshake flag NBD_FLAG_NO_ZEROES
	flagCFixedNewstyle = 1 << 0 // client flag NBD_FLAG_C_FIXED_NEWSTYLE
	flagCNoZeroes      = 1 << 1 // client flag NBD_FLAG_C_NO_ZEROES

	optExportName = 1 // NBD_OPT_EXPORT_NAME
	optGo         = 7 // NBD_OPT_GO

	repAck  = 1 // NBD_REP_ACK
	repInfo = 3 // NBD_REP_INFO
	repErr  = 1 << 31
	// NBD_REP_ERR_UNSUP: the server does not know the option.
	repErrUnsup = repErr + 1

	infoExport    = 0 // NBD_INFO_EXPORT: size and transmission flags
	infoBlockSize = 3 // NBD_INFO_BLOCK_SIZE: minimum, preferred, maximum

	// maxOptReply bounds the data of one option reply the client reads:
	// strings are at most 4096 bytes (doc/proto.md, "Conventions"), the
	// INFO replies a few bytes. A longer claimed length is an error,
	// never an allocation.
	maxOptReply = 16 << 10
)

// Transmission flags (doc/proto.md, "Transmission flags").
const (
	flagHasFlags        = 1 << 0 // NBD_FLAG_HAS_FLAGS
	flagReadOnly        = 1 << 1 // NBD_FLAG_READ_ONLY
	flagSendFlush       = 1 << 2 // NBD_FLAG_SEND_FLUSH
	flagSendTrim        = 1 << 5 // NBD_FLAG_SEND_TRIM
	flagSendWriteZeroes = 1 << 6 // NBD_FLAG_SEND_WRITE_ZEROES
)

// Block sizes ("Block size constraints"): without NBD_INFO_BLOCK_SIZE a
// client may send any alignment and SHOULD NOT send more than 32 MiB.
const (
	defaultMinimumBlock = 1
	defaultMaxPayload   = 32 << 20
	maxMinimumBlockSize = 64 << 10
)

// ErrProtocol is wrapped by the error of a server that breaks the
// protocol: a bad magic number, an unexpected reply, a reply for a request
// never sent. The connection is dropped.
var ErrProtocol = errors.New("nbd: protocol error")

// An OptionError is a server's refusal of an option during the handshake
// (an NBD_REP_ERR_* reply), such as an unknown export name.
type OptionError struct {
	Option  string // e.g. "NBD_OPT_GO"
	Reply   string // e.g. "NBD_REP_ERR_UNKNOWN"
	Message string // the server's message, if any
}

func (e *OptionError) Error() string {
	s := fmt.Sprintf("nbd: %s refused: %s", e.Option, e.Reply)
	if e.Message != "" {
		s += fmt.Sprintf(" (%q)", e.Message)
	}
	return s
}

// repErrNames names the NBD_REP_ERR_* values of doc/proto.md.
var repErrNames = map[uint32]string{
	repErr + 1: "NBD_REP_ERR_UNSUP",
	repErr + 2: "NBD_REP_ERR_POLICY",
	repErr + 3: "NBD_REP_ERR_INVALID",
	repErr + 4: "NBD_REP_ERR_PLATFORM",
	repErr + 5: "NBD_REP_ERR_TLS_REQD",
	repErr + 6: "NBD_REP_ERR_UNKNOWN",
	repErr + 7: "NBD_REP_ERR_SHUTDOWN",
	repErr + 8: "NBD_REP_ERR_BLOCK_SIZE_REQD",
	repErr + 9: "NBD_REP_ERR_TOO_BIG",
}

// export is what the handshake learns of the export.
type export struct {
	size       int64
	flags      uint16 // transmission flags
	minBlock   uint32 // NBD_INFO_BLOCK_SIZE, or defaults
	maxPayload uint32
}

var errUnsupported = errors.New("option not supported")

// negotiate performs the client side of the fixed newstyle handshake on
// rw for the export called name ("Fixed newstyle negotiation"): it reads
// the server's greeting, sends the client flags, then NBD_OPT_GO with an
// NBD_INFO_BLOCK_SIZE request, or NBD_OPT_EXPORT_NAME when the server is
// not fixed-newstyle or answers NBD_OPT_GO with NBD_REP_ERR_UNSUP.
func negotiate(rw io.ReadWriter, name string) (export, error) {
	if len(name) > 4096 {
		return export{}, fmt.Errorf("nbd: export name is %d bytes long, more than 4096", len(name))
	}
	// S: 64 bits NBDMAGIC, 64 bits IHAVEOPT, 16 bits handshake flags.
	var greet [18]byte
	if _, err := io.ReadFull(rw, greet[:]); err != nil {
		return export{}, fmt.Errorf("nbd: reading the server's greeting: %w", err)
	}
	if m := be64(greet[0:]); m != nbdMagic {
		return export{}, fmt.Errorf("%w: greeting magic %#x is not NBDMAGIC: not an NBD server", ErrProtocol, m)
	}
	switch m := be64(greet[8:]); m {
	case ihaveopt:
	case oldstyleMagic:
		return export{}, fmt.Errorf("nbd: the server uses oldstyle negotiation, which this client does not speak")
	default:
		return export{}, fmt.Errorf("%w: greeting's second magic %#x is not IHAVEOPT", ErrProtocol, m)
	}
	hflags := binary.BigEndian.Uint16(greet[16:])
	fixed, noZeroes := hflags&flagFixedNewstyle != 0, hflags&flagNoZeroes != 0
	// C: 32 bits client flags, echoing what the server offers.
	var cflags uint32
	if fixed {
		cflags |= flagCFixedNewstyle
	}
	if noZeroes {
		cflags |= flagCNoZeroes
	}
	if err := write(rw, binary.BigEndian.AppendUint32(nil, cflags)); err != nil {
		return export{}, err
	}
	if fixed {
		exp, err := goOption(rw, name)
		if !errors.Is(err, errUnsupported) {
			return exp, err
		}
	}
	return exportName(rw, name, noZeroes)
}

// option sends an option request: 64 bits IHAVEOPT, 32 bits option,
// 32 bits length, data.
func option(w io.Writer, opt uint32, data []byte) error {
	b := make([]byte, 0, 16+len(data))
	b = binary.BigEndian.AppendUint64(b, ihaveopt)
	b = binary.BigEndian.AppendUint32(b, opt)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	return write(w, append(b, data...))
}

// goOption sends NBD_OPT_GO (32 bits name length, name, 16 bits number of
// information requests, 16 bits each: NBD_INFO_BLOCK_SIZE) and reads the
// replies up to NBD_REP_ACK: NBD_REP_INFO with NBD_INFO_EXPORT (required)
// and NBD_INFO_BLOCK_SIZE (optional); other information is skipped.
func goOption(rw io.ReadWriter, name string) (export, error) {
	data := binary.BigEndian.AppendUint32(nil, uint32(len(name)))
	data = append(data, name...)
	data = binary.BigEndian.AppendUint16(data, 1)
	data = binary.BigEndian.AppendUint16(data, infoBlockSize)
	if err := option(rw, optGo, data); err != nil {
		return export{}, err
	}
	exp := export{minBlock: defaultMinimumBlock, maxPayload: defaultMaxPayload}
	haveExport := false
	buf := make([]byte, maxOptReply)
	for {
		// S: 64 bits reply magic, 32 bits option, 32 bits reply type,
		// 32 bits length, data.
		var hdr [20]byte
		if _, err := io.ReadFull(rw, hdr[:]); err != nil {
			return export{}, fmt.Errorf("nbd: reading the reply to NBD_OPT_GO: %w", err)
		}
		if m := be64(hdr[0:]); m != repMagic {
			return export{}, fmt.Errorf("%w: option reply magic %#x", ErrProtocol, m)
		}
		if o := binary.BigEndian.Uint32(hdr[8:]); o != optGo {
			return export{}, fmt.Errorf("%w: reply to option %d while NBD_OPT_GO was sent", ErrProtocol, o)
		}
		typ := binary.BigEndian.Uint32(hdr[12:])
		n := binary.BigEndian.Uint32(hdr[16:])
		if n > maxOptReply {
			return export{}, fmt.Errorf("%w: option reply of %d bytes (limit %d)", ErrProtocol, n, maxOptReply)
		}
		p := buf[:n]
		if _, err := io.ReadFull(rw, p); err != nil {
			return export{}, fmt.Errorf("nbd: reading the reply to NBD_OPT_GO: %w", err)
		}
		switch {
		case typ == repAck:
			if !haveExport {
				return export{}, fmt.Errorf("%w: NBD_OPT_GO acknowledged without NBD_INFO_EXPORT", ErrProtocol)
			}
			return exp, nil
		case typ == repInfo:
			if err := exp.info(p); err != nil {
				return export{}, err
			}
			haveExport = haveExport || binary.BigEndian.Uint16(p) == infoExport
		case typ == repErrUnsup:
			return export{}, errUnsupported
		case typ&repErr != 0:
			reply, ok := repErrNames[typ]
			if !ok {
				reply = fmt.Sprintf("error %#x", typ)
			}
			return export{}, &OptionError{Option: "NBD_OPT_GO", Reply: reply, Message: printable(p)}
		default:
			return export{}, fmt.Errorf("%w: unexpected reply type %d to NBD_OPT_GO", ErrProtocol, typ)
		}
	}
}

// info parses the data of an NBD_REP_INFO reply: 16 bits information type,
// then for NBD_INFO_EXPORT 64 bits size and 16 bits transmission flags,
// for NBD_INFO_BLOCK_SIZE 32 bits minimum, preferred and maximum size.
func (exp *export) info(p []byte) error {
	if len(p) < 2 {
		return fmt.Errorf("%w: NBD_REP_INFO of %d bytes", ErrProtocol, len(p))
	}
	switch binary.BigEndian.Uint16(p) {
	case infoExport:
		if len(p) != 12 {
			return fmt.Errorf("%w: NBD_INFO_EXPORT of %d bytes, want 12", ErrProtocol, len(p))
		}
		return exp.setExport(be64(p[2:]), binary.BigEndian.Uint16(p[10:]))
	case infoBlockSize:
		if len(p) != 14 {
			return fmt.Errorf("%w: NBD_INFO_BLOCK_SIZE of %d bytes, want 14", ErrProtocol, len(p))
		}
		minb, pref, maxb := binary.BigEndian.Uint32(p[2:]), binary.BigEndian.Uint32(p[6:]), binary.BigEndian.Uint32(p[10:])
		// "Block size constraints": powers of two, minimum ≤ 64 KiB,
		// preferred ≥ minimum, maximum a multiple of the minimum.
		if minb == 0 || minb&(minb-1) != 0 || minb > maxMinimumBlockSize || pref < minb || pref&(pref-1) != 0 || maxb < minb || maxb%minb != 0 {
			return fmt.Errorf("%w: NBD_INFO_BLOCK_SIZE minimum %d, preferred %d, maximum %d", ErrProtocol, minb, pref, maxb)
		}
		exp.minBlock = minb
		exp.maxPayload = min(maxb, defaultMaxPayload) / minb * minb
	}
	return nil
}

func (exp *export) setExport(size uint64, flags uint16) error {
	if size > 1<<62 {
		return fmt.Errorf("%w: export size %d", ErrProtocol, size)
	}
	if flags&flagHasFlags == 0 {
		return fmt.Errorf("%w: transmission flags %#x lack NBD_FLAG_HAS_FLAGS", ErrProtocol, flags)
	}
	exp.size, exp.flags = int64(size), flags
	return nil
}

// exportName ends the handshake with NBD_OPT_EXPORT_NAME. The server
// answers 64 bits size, 16 bits transmission flags and, unless
// NBD_FLAG_C_NO_ZEROES was sent, 124 bytes of zeroes; it closes the
// connection for an unknown export, as it cannot send an error.
func exportName(rw io.ReadWriter, name string, noZeroes bool) (export, error) {
	if err := option(rw, optExportName, []byte(name)); err != nil {
		return export{}, err
	}
	var b [10 + 124]byte
	p := b[:]
	if noZeroes {
		p = b[:10]
	}
	if _, err := io.ReadFull(rw, p); err != nil {
		return export{}, fmt.Errorf("nbd: NBD_OPT_EXPORT_NAME %q: the server closed the connection (no such export?): %w", name, err)
	}
	exp := export{minBlock: defaultMinimumBlock, maxPayload: defaultMaxPayload}
	if err := exp.setExport(be64(p), binary.BigEndian.Uint16(p[8:])); err != nil {
		return export{}, err
	}
	return exp, nil
}

// printable returns a server's message for an error string: at most 4096
// bytes, invalid UTF-8 and control characters replaced.
func printable(p []byte) string {
	if len(p) > 4096 {
		p = p[:4096]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(string(p), "?"))
}

func be64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

func write(w io.Writer, b []byte) error {
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("nbd: handshake: %w", err)
	}
	return nil
}
