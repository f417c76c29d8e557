// A vCenter simulator for glance-storefs' tests and benchmark: govmomi's simulator library (Debian's
// golang-github-vmware-govmomi-dev ships the library but no vcsim command) with one datacenter DC0,
// N datastores LocalDS_0... whose files live in DIR/LocalDS_<n> (-datastore-dir: the same after a
// restart, as a real datastore's files are), TLS with the given certificate, one user, and every HTTP
// request logged as "METHOD PATH?QUERY STATUS BYTES_IN" (the tests count uploads).
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"

	"github.com/vmware/govmomi/simulator"
)

type countingBody struct {
	io.ReadCloser
	n *int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	atomic.AddInt64(c.n, int64(n))
	return n, err
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	return r.ResponseWriter.Write(b)
}

// Go's ResponseWriter for HTTP/1 is also a ReaderFrom (sendfile for GETs); keep it.
func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	if r.status == 0 {
		r.status = 200
	}
	if rf, ok := r.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(r.ResponseWriter, src)
}

func main() {
	listen := flag.String("l", "127.0.0.1:0", "address to listen on")
	cert := flag.String("tlscert", "", "PEM certificate")
	key := flag.String("tlskey", "", "PEM key")
	user := flag.String("username", "storefs", "the one user")
	pass := flag.String("password", "", "its password")
	datastores := flag.Int("ds", 2, "datastores")
	portFile := flag.String("port-file", "", "where to write the port once listening")
	accessLog := flag.String("access-log", "", "requests log")
	datastoreDir := flag.String("datastore-dir", "", "where the datastores' files are kept (else temporary directories)")
	flag.Parse()

	model := simulator.VPX()
	model.Datastore = *datastores
	model.Machine = 0
	if err := model.Create(); err != nil {
		log.Fatal(err)
	}
	defer model.Remove()
	if *datastoreDir != "" {
		for _, entity := range simulator.Map.All("Datastore") {
			ds := entity.(*simulator.Datastore)
			dir := filepath.Join(*datastoreDir, ds.Name)
			if err := os.MkdirAll(dir, 0700); err != nil {
				log.Fatal(err)
			}
			temporary := ds.Info.GetDatastoreInfo().Url
			ds.Info.GetDatastoreInfo().Url = dir
			ds.Summary.Url = dir
			_ = os.RemoveAll(temporary)
		}
	}
	if *cert != "" {
		pair, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			log.Fatal(err)
		}
		model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	}
	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*user, *pass)}
	server := model.Service.NewServer()
	defer server.Close()

	var out io.Writer = io.Discard
	if *accessLog != "" {
		f, err := os.OpenFile(*accessLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0644)
		if err != nil {
			log.Fatal(err)
		}
		out = f
	}
	inner := server.Config.Handler
	// Set before anyone knows the port: no request can race with it.
	server.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int64
		uri := r.URL.RequestURI()
		if r.Body != nil {
			r.Body = countingBody{r.Body, &n}
		}
		rec := &recorder{ResponseWriter: w}
		inner.ServeHTTP(rec, r)
		status := rec.status
		if status == 0 {
			status = 200
		}
		fmt.Fprintf(out, "%s %s %d %d\n", r.Method, uri, status, atomic.LoadInt64(&n))
	})

	u, _ := url.Parse(server.URL.String())
	if *portFile != "" {
		tmp := *portFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(u.Port()+"\n"), 0644); err != nil {
			log.Fatal(err)
		}
		if err := os.Rename(tmp, *portFile); err != nil {
			log.Fatal(err)
		}
	}
	log.Printf("vcsim on %s, %d datastores", u.Host, *datastores)
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
}
