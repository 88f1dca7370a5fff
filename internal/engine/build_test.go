package engine

import (
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"
)

func TestBuildImage(t *testing.T) {
	tests := []struct {
		name         string
		stream       string
		err          error
		wantProgress string
		wantErr      string
	}{
		{
			name:         "built",
			stream:       `{"stream":"Step 1/2 : FROM debian\n"}{"stream":"Successfully built abc\n"}`,
			wantProgress: "Step 1/2 : FROM debian\nSuccessfully built abc\n",
		},
		{
			name:         "step fails",
			stream:       `{"stream":"Step 2/2 : RUN make\n"}{"errorDetail":{"code":2,"message":"make: *** No rule"},"error":"make: *** No rule"}`,
			wantProgress: "Step 2/2 : RUN make\n",
			wantErr:      "building stackctl/kernel:6.1: make: *** No rule",
		},
		{name: "refused", err: errEngine, wantErr: "building stackctl/kernel:6.1: engine said no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := &readCloser{Reader: strings.NewReader(tt.stream)}
			buildContext := strings.NewReader("tar")
			version := "6.1"
			args := map[string]*string{"KERNEL": &version}
			var got client.ImageBuildOptions
			e := &Engine{API: &fakeAPI{imageBuild: func(c io.Reader, o client.ImageBuildOptions) (client.ImageBuildResult, error) {
				if c != buildContext {
					t.Error("the build context is not the caller's")
				}
				got = o
				return client.ImageBuildResult{Body: body}, tt.err
			}}}
			var progress strings.Builder
			err := e.BuildImage(t.Context(), buildContext, BuildOptions{Tag: "stackctl/kernel:6.1", Args: args, Progress: &progress, ShmSize: 1 << 30})
			wantErr(t, err, tt.wantErr, nil)
			if progress.String() != tt.wantProgress {
				t.Errorf("progress = %q, want %q", progress.String(), tt.wantProgress)
			}
			if !reflect.DeepEqual(got.Tags, []string{"stackctl/kernel:6.1"}) || !reflect.DeepEqual(got.BuildArgs, args) {
				t.Errorf("built with tags %q, args %v", got.Tags, got.BuildArgs)
			}
			if got.ShmSize != 1<<30 {
				t.Errorf("build's /dev/shm: %d bytes, want the caller's 1 GiB", got.ShmSize)
			}
			// The classic builder: BuildKit may not be installed.
			if got.Version != build.BuilderV1 || !got.Remove || !got.ForceRemove {
				t.Errorf("build options = %+v, want the classic builder, intermediate containers removed", got)
			}
			if tt.err == nil && !body.closed {
				t.Error("the engine's answer was not closed")
			}
		})
	}
}
