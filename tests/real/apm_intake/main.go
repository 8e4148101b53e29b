// apm-intake: APM Server's own intake code (github.com/elastic/apm-data) behind a loopback HTTP
// server, for the real test tier. It accepts what APM Server accepts from an application, the
// agents' intake v2 (POST /intake/v2/events, NDJSON) and OTLP/HTTP traces (POST /v1/traces,
// protobuf), turns it into APM events with the same code as APM Server 9.x, and keeps each event
// as the JSON document APM Server would index (modeljson). Tests read them back:
//
//	GET /_docs?trace_id=ID&flushes=N  the documents (of that trace), once N agent flushes
//	                                  (?flushed=true requests) have been handled (10 s at most)
//
// Usage: apm-intake -addr 127.0.0.1:0 (prints "listening on http://HOST:PORT").
package main

import (
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/md5"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/elastic/apm-data/input/elasticapm"
	"github.com/elastic/apm-data/input/otlp"
	"github.com/elastic/apm-data/model/modeljson"
	"github.com/elastic/apm-data/model/modelpb"
	"github.com/elastic/apm-data/model/modelprocessor"
	"go.elastic.co/fastjson"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"golang.org/x/sync/semaphore"
)

type store struct {
	mu      sync.Mutex
	changed *sync.Cond
	docs    []json.RawMessage
	traces  []string
	flushes int
}

func (s *store) ProcessBatch(_ context.Context, b *modelpb.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, event := range *b {
		var w fastjson.Writer
		if err := modeljson.MarshalAPMEvent(event, &w); err != nil {
			return err
		}
		s.docs = append(s.docs, append(json.RawMessage(nil), w.Bytes()...))
		s.traces = append(s.traces, event.GetTrace().GetId())
	}
	s.changed.Broadcast()
	return nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	s := &store{}
	s.changed = sync.NewCond(&s.mu)
	// What APM Server runs on every batch before indexing it (the ones that need no configuration).
	processor := modelprocessor.Chained{
		modelprocessor.SetHostHostname{}, modelprocessor.SetServiceNodeName{},
		modelprocessor.SetGroupingKey{NewHash: md5.New}, modelprocessor.SetErrorMessage{},
		modelprocessor.SetCulprit{}, &modelprocessor.SetDataStream{Namespace: "default"}, s,
	}
	sem := semaphore.NewWeighted(16)
	agents := elasticapm.NewProcessor(elasticapm.Config{Semaphore: sem, MaxEventSize: 1 << 20})
	otel := otlp.NewConsumer(otlp.ConsumerConfig{Processor: processor, Semaphore: sem})

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"version":"9.2.0","publish_ready":true}`)
	})
	mux.HandleFunc("POST /intake/v2/events", func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		switch r.Header.Get("Content-Encoding") {
		case "gzip":
			if gz, err := gzip.NewReader(r.Body); err == nil {
				body = gz
			} else if err != io.EOF { // a forced flush with nothing queued: an empty gzip body
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		case "deflate":
			if zr, err := zlib.NewReader(r.Body); err == nil {
				body = zr
			}
		}
		base := &modelpb.APMEvent{Event: &modelpb.Event{Received: modelpb.FromTime(time.Now())}}
		var result elasticapm.Result
		err := agents.HandleStream(r.Context(), base, body, 10, processor, &result)
		if r.URL.Query().Get("flushed") == "true" {
			s.mu.Lock()
			s.flushes++
			s.changed.Broadcast()
			s.mu.Unlock()
		}
		if err != nil || len(result.Errors) > 0 {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]any{"error": fmt.Sprint(err), "errors": fmt.Sprint(result.Errors)})
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, r *http.Request) {
		raw, err := io.ReadAll(r.Body)
		req := ptraceotlp.NewExportRequest()
		if err == nil {
			err = req.UnmarshalProto(raw)
		}
		if err == nil {
			_, err = otel.ConsumeTracesWithResult(r.Context(), req.Traces())
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out, _ := ptraceotlp.NewExportResponse().MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	})
	mux.HandleFunc("GET /_docs", func(w http.ResponseWriter, r *http.Request) {
		want, _ := strconv.Atoi(r.URL.Query().Get("flushes"))
		trace := r.URL.Query().Get("trace_id")
		deadline := time.AfterFunc(10*time.Second, func() { s.mu.Lock(); s.changed.Broadcast(); s.mu.Unlock() })
		defer deadline.Stop()
		started := time.Now()
		s.mu.Lock()
		for s.flushes < want && time.Since(started) < 10*time.Second {
			s.changed.Wait()
		}
		docs := []json.RawMessage{}
		for i, doc := range s.docs {
			if trace == "" || s.traces[i] == trace {
				docs = append(docs, doc)
			}
		}
		flushes := s.flushes
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"flushes": flushes, "docs": docs})
	})

	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		panic(err)
	}
	fmt.Printf("listening on http://%s\n", listener.Addr())
	panic(http.Serve(listener, mux))
}
