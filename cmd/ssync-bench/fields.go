package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mailru/easyjson/jlexer"
	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/ssyncimpl"
	"github.com/ssync-go/ssync/runtime/store"
	ssqlite "github.com/ssync-go/ssync/runtime/store/sqlite"
	"github.com/ssync-go/ssync/runtime/wire"
)

// wideColumns is how many user columns the wide row of the fields
// scenario has.
const wideColumns = 20

// wide is a row of 20 text fields, the shape of the fields scenario.
type wide struct {
	ssync.Record
	F [wideColumns]string
}

// wideTable describes the bench_wide collection: the codecs ssyncgen would
// generate for wide, written as loops.
func wideTable() *ssync.Table[wide] {
	cols := make([]ssync.Column, wideColumns)
	for i := range cols {
		name := fmt.Sprintf("f%02d", i+1)
		cols[i] = ssync.Column{Name: name, Wire: name, Kind: ssync.KindText}
	}
	return &ssync.Table[wide]{
		Name: "bench_wide", Order: 1, Columns: cols,
		Record: func(r *wide) *ssync.Record { return &r.Record },
		Values: func(r *wide, dst []any) []any {
			for _, v := range r.F {
				dst = append(dst, v)
			}
			return dst
		},
		Targets: func(r *wide, dst []any) []any {
			for i := range r.F {
				dst = append(dst, &r.F[i])
			}
			return dst
		},
		Encode: func(w *jwriter.Writer, r *wide) {
			ssyncimpl.WriteRecord(w, &r.Record)
			for i, v := range r.F {
				w.RawString(`,"` + cols[i].Wire + `":`)
				w.String(v)
			}
			w.RawByte('}')
		},
		Decode: func(l *jlexer.Lexer, r *wide, opts ssync.DecodeOptions) error {
			l.Delim('{')
			for l.Ok() && !l.IsDelim('}') {
				key := l.UnsafeFieldName(false)
				l.WantColon()
				if i := wideIndex(key); i >= 0 {
					r.F[i] = l.String()
				} else if !ssyncimpl.ReadRecordField(l, &r.Record, key) {
					ssyncimpl.UnknownField(l, key, opts)
				}
				if !l.Ok() {
					return ssyncimpl.NewFieldError(key, l.Error())
				}
				l.WantComma()
			}
			l.Delim('}')
			return l.Error()
		},
	}
}

// wideIndex returns the index of the field named key ("f01".."f20"), or -1.
func wideIndex(key string) int {
	if len(key) != 3 || key[0] != 'f' || key[1] < '0' || key[1] > '9' || key[2] < '0' || key[2] > '9' {
		return -1
	}
	if i := int(key[1]-'0')*10 + int(key[2]-'0'); i >= 1 && i <= wideColumns {
		return i - 1
	}
	return -1
}

// pushBytes counts the bytes of the push bodies a server received, as they
// travelled (compressed when sent compressed).
type pushBytes struct {
	n    atomic.Int64
	busy atomic.Int64 // nanoseconds spent serving pushes
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// fieldsScenario measures the push of an edit of one field of each of
// cfg.pushRows/10 wide rows (20 text columns) the server has: pushed whole
// (SyncOptions.WholeRows, the baseline, in the same run) and as a field
// push, each compressed (the default) and as it is.
func fieldsScenario(ctx context.Context, cfg config) (result, error) {
	reg, err := ssync.NewRegistry(wideTable())
	if err != nil {
		return result{}, err
	}
	sdb, err := sql.Open("sqlite3", ssqlite.DSN(filepath.Join(cfg.dir, "fields-server.db")))
	if err != nil {
		return result{}, err
	}
	defer sdb.Close()
	st, err := store.Open(ctx, sdb, ssqlite.Dialect(), reg)
	if err != nil {
		return result{}, err
	}
	srv, err := server.New(server.Config{Store: st, Authenticator: server.InsecureHeaderAuth(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return result{}, err
	}
	mux := http.NewServeMux()
	srv.Mount(mux, "")
	var pushed pushBytes
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	hs := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/"+wire.PathPush) {
			r.Body = countingBody{ReadCloser: r.Body, n: &pushed.n}
			start := time.Now()
			defer func() { pushed.busy.Add(int64(time.Since(start))) }()
		}
		mux.ServeHTTP(w, r)
	})}
	go hs.Serve(ln)
	defer hs.Close()
	url := "http://" + ln.Addr().String()

	dev, err := client.Open(ctx, filepath.Join(cfg.dir, "fields-device.db"), reg, client.Options{})
	if err != nil {
		return result{}, err
	}
	defer dev.Close()
	if err := dev.SetUser(ctx, "wide-user"); err != nil {
		return result{}, err
	}
	repo := client.NewRepo(dev, wideTable())
	n := max(cfg.pushRows/10, 1)
	rows := make([]*wide, n)
	err = dev.Transaction(ctx, func(ctx context.Context) error {
		for i := range rows {
			rows[i] = &wide{}
			for j := range rows[i].F {
				rows[i].F[j] = fmt.Sprintf("value of field %02d of row %06d", j+1, i)
			}
			if err := repo.Insert(ctx, rows[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return result{}, err
	}
	opts := syncOptions(url, "wide-user")
	if _, err := dev.Synchronize(ctx, opts); err != nil {
		return result{}, err
	}
	figures := map[string]float64{}
	for round, c := range []struct {
		name         string
		whole, plain bool
	}{{"whole", true, false}, {"fields", false, false}, {"whole_plain", true, true}, {"fields_plain", false, true}} {
		err := dev.Transaction(ctx, func(ctx context.Context) error {
			for i, r := range rows {
				r.F[6] = fmt.Sprintf("edited in round %d, row %06d", round, i)
				if err := repo.Update(ctx, r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return result{}, err
		}
		o := opts
		o.WholeRows, o.DisableCompression = c.whole, c.plain
		o.HandshakeInterval = -1 // a handshake each time: the compression setting changes
		before, busy, start := pushed.n.Load(), pushed.busy.Load(), time.Now()
		res, err := dev.Synchronize(ctx, o)
		if err != nil {
			return result{}, err
		}
		figures[c.name+"_sync_s"] = time.Since(start).Seconds()
		figures[c.name+"_server_push_s"] = time.Duration(pushed.busy.Load() - busy).Seconds()
		if len(res.Pushed) != 1 || res.Pushed[0].Updated != n {
			return result{}, fmt.Errorf("fields %s: pushed %+v, want %d updates", c.name, res.Pushed, n)
		}
		figures[c.name+"_push_bytes"] = float64(pushed.n.Load() - before)
	}
	figures["ratio_plain"] = figures["fields_plain_push_bytes"] / figures["whole_plain_push_bytes"]
	r := result{Scenario: "fields", Store: "sqlite", Rows: n, Figures: figures,
		Ratio:  figures["fields_push_bytes"] / figures["whole_push_bytes"],
		Target: "an edit of one field of a 20-column row pushes fewer bytes than the whole row"}
	r.Met = r.Ratio < 1 && figures["ratio_plain"] < 1
	return r, nil
}
