package server

import (
	"google.golang.org/grpc"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

// backupChunk is how much of a snapshot one message carries: well under
// gRPC's default limit of 4 MB a message.
const backupChunk = 1 << 20

// Backup streams a consistent snapshot of the store while the server keeps
// serving; the store records it in the audit log as the caller's.
func (s *Server) Backup(_ *pb.BackupRequest, stream grpc.ServerStreamingServer[pb.BackupResponse]) error {
	ctx := stream.Context()
	w := &backupWriter{stream: stream, buf: make([]byte, 0, backupChunk)}
	_, err := s.db.Backup(ctx, actor(ctx), w, func(size int64) { w.size = size })
	if err == nil {
		err = w.flush()
	}
	if err != nil {
		return s.errorStatus(ctx, "Backup", err)
	}
	return nil
}

// backupWriter sends a snapshot in messages of backupChunk bytes, the
// first one with the snapshot's size.
type backupWriter struct {
	stream grpc.ServerStreamingServer[pb.BackupResponse]
	buf    []byte
	size   int64
	sent   bool
}

func (w *backupWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf, p = w.buf[:len(w.buf)+k], p[k:]
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// flush sends what is buffered, in a buffer of its own: grpc may still
// read a message after Send returns (stats handlers), so none is reused.
func (w *backupWriter) flush() error {
	if len(w.buf) == 0 && w.sent {
		return nil
	}
	msg := &pb.BackupResponse{Data: w.buf}
	if !w.sent {
		msg.Size, w.sent = w.size, true
	}
	w.buf = make([]byte, 0, backupChunk)
	return w.stream.Send(msg)
}
