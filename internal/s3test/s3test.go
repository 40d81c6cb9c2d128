// Package s3test runs a real S3-compatible server for tests: the Versity
// S3 gateway (versitygw, Apache-2.0), serving a temporary folder on
// 127.0.0.1, stopped when the test ends.
//
// The binary is found through $SSYNC_VERSITYGW, then PATH, then $GOBIN and
// $GOPATH/bin. Without it the tests that need it are skipped with a loud
// message saying how to install it (Install), unless SSYNC_REQUIRE_S3=1
// (CI sets it), in which case they fail.
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"go/build"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// Version is the versitygw release the tests and CI use.
const Version = "v1.8.0"

// Install is the command that installs versitygw.
const Install = "go install github.com/versity/versitygw/cmd/versitygw@" + Version

// Server is a running versitygw.
type Server struct {
	// Endpoint is its URL, http://127.0.0.1:PORT.
	Endpoint string
	// Region, AccessKey and SecretKey are what a client needs.
	Region, AccessKey, SecretKey string
	// Root is the folder it serves: one subfolder per bucket.
	Root string

	client *awss3.Client
}

// Binary returns the path of the versitygw binary, or an error saying how
// to install it.
func Binary() (string, error) {
	if p := os.Getenv("SSYNC_VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("SSYNC_VERSITYGW: %w; install versitygw with `%s`", err, Install)
		}
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	for _, gp := range filepath.SplitList(build.Default.GOPATH) {
		dirs = append(dirs, filepath.Join(gp, "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "versitygw")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("versitygw is not on PATH nor in %v; install it with `%s`", dirs, Install)
}

// Start runs versitygw over a temporary folder until the test ends. When
// the binary is missing it skips the test, or fails it under
// SSYNC_REQUIRE_S3=1.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		msg := "!!! S3 store tests NOT RUN: " + err.Error()
		if os.Getenv("SSYNC_REQUIRE_S3") == "1" {
			t.Fatal(msg + " (and SSYNC_REQUIRE_S3=1 requires them)")
		}
		fmt.Fprintln(os.Stderr, msg)
		t.Skip(msg)
	}
	s := &Server{Region: "us-east-1", AccessKey: "ssync-test", SecretKey: "ssync-test-secret-" + random(8), Root: t.TempDir()}
	var lastErr error
	for range 3 { // a free port may be taken before versitygw binds it
		if lastErr = s.start(t, bin); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("start versitygw: %v", lastErr)
	}
	s.client = awss3.New(awss3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
	return s
}

// start runs versitygw on a free port and waits until it answers.
func (s *Server) start(t testing.TB, bin string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	out := &lockedWriter{}
	cmd := exec.Command(bin, "--access", s.AccessKey, "--secret", s.SecretKey, "--port", addr, "posix", s.Root)
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	endpoint := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("versitygw exited (%v): %s", err, out.String())
		default:
		}
		resp, err := http.Get(endpoint + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("versitygw did not answer on %s within 30 s: %s", addr, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Endpoint = endpoint
	t.Cleanup(stop)
	return nil
}

// NewBucket creates an empty bucket and returns its name.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := "ssync-" + random(6)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.client.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// Client returns an S3 client for the server, to look at or tamper with
// objects directly.
func (s *Server) Client() *awss3.Client { return s.client }

func random(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// lockedWriter lets the process's output be read while it is written.
type lockedWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
