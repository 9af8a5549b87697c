// Command gatepeer is the other side of the gate benchmarks
// (bench/gate_test.go): a fast upstream, and the bare reverse proxy the
// built-in proxy is compared with. It prints "listening on ADDR" once it
// accepts connections.
//
//	gatepeer upstream                 fixed 200-byte answer on every path; /echo returns the request headers
//	gatepeer bare -upstream URL       a plain httputil.ReverseProxy to URL
//	gatepeer spoefloor -user U -groups G
//	                                  an SPOE agent that decides nothing (spoefloor.go)
//
// -listen ADDR (default 127.0.0.1:0), -pprof ADDR serves net/http/pprof,
// -bufpool gives the bare proxy a pool of copy buffers (an experiment: the
// built-in proxy has none).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	_ "net/http/pprof" // -pprof

	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// body is the upstream's answer: 200 bytes.
var body = []byte(strings.Repeat("scimgate-bench-upstream ", 8) + "1234567\n")

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: gatepeer upstream | gatepeer bare -upstream URL | gatepeer spoefloor")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	upstream := fs.String("upstream", "", "upstream URL (bare)")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this address")
	bufPool := fs.Bool("bufpool", false, "bare: reuse copy buffers (ReverseProxy.BufferPool), as the built-in proxy does")
	user := fs.String("user", "", "spoefloor: the user variable answered")
	groups := fs.String("groups", "", "spoefloor: the groups variable answered")
	_ = fs.Parse(os.Args[2:])
	if os.Args[1] == "spoefloor" {
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("listening on %s\n", ln.Addr())
		serveSPOEFloor(ln, *user, *groups)
		return
	}

	var h http.Handler
	switch os.Args[1] {
	case "upstream":
		h = http.HandlerFunc(serveUpstream)
	case "bare":
		u, err := url.Parse(*upstream)
		if err != nil || u.Host == "" {
			log.Fatalf("bare: -upstream %q is not a URL", *upstream)
		}
		rp := bareProxy(u)
		if *bufPool {
			rp.BufferPool = &bufferPool{}
		}
		h = rp
	default:
		log.Fatalf("unknown mode %q", os.Args[1])
	}
	if *pprofAddr != "" {
		go func() { log.Println(http.ListenAndServe(*pprofAddr, nil)) }()
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	// The same server settings as scimgate's main listener.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	log.Fatal(srv.Serve(ln))
}

func serveUpstream(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/echo" || strings.HasSuffix(r.URL.Path, "/echo") {
		var lines []string
		for k, vs := range r.Header {
			for _, v := range vs {
				lines = append(lines, k+": "+v)
			}
		}
		sort.Strings(lines)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "%s %s\n%s\n", r.Method, r.URL.RequestURI(), strings.Join(lines, "\n"))
		return
	}
	hd := w.Header()
	hd["Content-Type"] = []string{"text/plain; charset=utf-8"}
	hd["Content-Length"] = []string{strconv.Itoa(len(body))}
	_, _ = w.Write(body)
}

// bareProxy is what the built-in proxy does without the gate: the same
// Rewrite (SetURL, SetXForwarded) over a transport with the same settings
// as proxy.New's, so that the comparison measures the gate alone.
func bareProxy(u *url.URL) *httputil.ReverseProxy {
	t := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.SetXForwarded()
		},
		Transport: t,
		// As the built-in proxy: a client that went away is not an error.
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if !errors.Is(err, context.Canceled) {
				log.Printf("upstream error: %v", err)
				http.Error(w, "upstream unavailable", http.StatusBadGateway)
			}
		},
	}
}

// bufferPool is an httputil.BufferPool of 32 KiB buffers.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }
