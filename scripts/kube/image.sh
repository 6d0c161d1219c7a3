#!/usr/bin/env bash
# Builds the local cluster's two images without a registry and imports them
# into its containerd as OCI image layout tarballs:
#   registry.k8s.io/pause:3.10   a static pause (scripts/kube/pause), the
#                                sandbox_image containerd names
#   specloop.local/sandbox:dev   busybox-static, git and its libraries, the
#                                specloop binary (the scripted agent and the
#                                model bridge) at /usr/local/bin/specloop,
#                                node and the real Codex and Claude Code CLIs
#                                at the npm prefix the worker finds them in
#                                ($SPECLOOP_AGENT_CLIS, as .ci/run installs
#                                them), so the worker's PATH for a preset
#                                names the same files in the pod
# Run from the repository root after up.sh has started containerd; rerun it
# after changing the specloop binary.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
repo=$(cd "$here/../.." && pwd)
work=$KUBE_DIR/images
rm -rf "$work" && mkdir -p "$work"

# oci_tar ROOTFS NAME ENTRYPOINT_JSON OUT: one uncompressed layer.
oci_tar() {
  local root=$1 name=$2 entry=$3 out=$4 d
  d=$(mktemp -d "$work/oci.XXXXXX")
  mkdir -p "$d/blobs/sha256"
  tar --numeric-owner --sort=name --mtime=@0 -C "$root" -cf "$d/layer.tar" .
  local lsum lsize csum csize msum msize
  lsum=$(sha256sum "$d/layer.tar" | cut -d' ' -f1); lsize=$(stat -c %s "$d/layer.tar")
  mv "$d/layer.tar" "$d/blobs/sha256/$lsum"
  printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":%s,"Env":["PATH=/usr/local/bin:/usr/bin:/bin"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$entry" "$lsum" > "$d/config.json"
  csum=$(sha256sum "$d/config.json" | cut -d' ' -f1); csize=$(stat -c %s "$d/config.json")
  mv "$d/config.json" "$d/blobs/sha256/$csum"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$csum" "$csize" "$lsum" "$lsize" > "$d/manifest.json"
  msum=$(sha256sum "$d/manifest.json" | cut -d' ' -f1); msize=$(stat -c %s "$d/manifest.json")
  mv "$d/manifest.json" "$d/blobs/sha256/$msum"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$d/oci-layout"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$msum" "$msize" "$name" "${name##*:}" > "$d/index.json"
  tar -C "$d" -cf "$out" oci-layout index.json blobs
  rm -rf "$d"
}

# The pause image.
mkdir -p "$work/pause"
(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$work/pause/pause" ./scripts/kube/pause)
oci_tar "$work/pause" "$PAUSE_IMAGE" '["/pause"]' "$work/pause.tar"

# The sandbox image.
r=$work/sandbox
mkdir -p "$r"/{bin,usr/bin,usr/local/bin,usr/lib,usr/share,etc,tmp,home/agent,lib64,lib/x86_64-linux-gnu}
chmod 1777 "$r/tmp"
cp /bin/busybox "$r/bin/busybox"
for a in $("$r/bin/busybox" --list); do
  [ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"
done
cp /usr/bin/git "$r/usr/bin/git"
cp -a /usr/lib/git-core "$r/usr/lib/git-core"
[ -d /usr/share/git-core ] && cp -a /usr/share/git-core "$r/usr/share/git-core"
# The shared libraries git and its helpers load.
# node (the Codex CLI's launcher is a node script) from the host, with the
# shared libraries it loads; busybox's env where scripts' #! looks for it.
node=$(command -v node)
mkdir -p "$r$(dirname "$node")"
cp -L "$node" "$r$node"
ln -sf /bin/busybox "$r/usr/bin/env"
# bash: Claude Code runs its tool commands in bash or zsh only ("No suitable
# shell found" with busybox's sh alone).
rm -f "$r/bin/bash" && cp -L /bin/bash "$r/bin/bash"
# The agent CLIs at the same prefix as on the worker: the worker resolves a
# preset's binary on its own PATH and hands that directory to the sandbox.
# Codex and Claude Code only (Gemini CLI and opencode would double the
# image); a prefix without them leaves the image without agents.
clis=${SPECLOOP_AGENT_CLIS:-/var/cache/specloop/npm}
if [ -d "$clis/node_modules/@openai" ] && [ -d "$clis/node_modules/@anthropic-ai" ]; then
  mkdir -p "$r$clis/node_modules/.bin"
  cp -a "$clis/node_modules/@openai" "$clis/node_modules/@anthropic-ai" "$r$clis/node_modules/"
  cp -a "$clis/node_modules/.bin/codex" "$clis/node_modules/.bin/claude" "$r$clis/node_modules/.bin/"
else
  echo "image.sh: no agent CLIs under $clis (run .ci/run or set SPECLOOP_AGENT_CLIS): the image has none" >&2
fi
for f in /usr/bin/git /usr/lib/git-core/* "$node" /bin/bash "$r$clis"/node_modules/@anthropic-ai/claude-code/bin/claude.exe; do
  [ -f "$f" ] && [ -x "$f" ] || continue
  { ldd "$f" 2>/dev/null || true; } | awk '{for (i=1;i<=NF;i++) if ($i ~ /^\//) print $i}'
done | sort -u | while read -r lib; do
  mkdir -p "$r$(dirname "$lib")"
  cp -L "$lib" "$r$lib"
done
cp -L /lib64/ld-linux-x86-64.so.2 "$r/lib64/"
(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$r/usr/local/bin/specloop" ./cmd/specloop)
cp "$work/pause/pause" "$r/usr/local/bin/sandbox-init"
printf 'root:x:0:0:root:/root:/bin/sh\nagent:x:1000:1000:agent:/home/agent:/bin/sh\n' > "$r/etc/passwd"
printf 'root:x:0:\nagent:x:1000:\n' > "$r/etc/group"
printf '127.0.0.1 localhost\n' > "$r/etc/hosts"
# A working copy whose top directory is a mount (root's) is still the
# agent's: git must not call it dubious.
printf '[safe]\n\tdirectory = *\n' > "$r/etc/gitconfig"
chown -R 1000:1000 "$r/home/agent"
oci_tar "$r" "$SANDBOX_IMAGE" '["/usr/local/bin/sandbox-init"]' "$work/sandbox.tar"

ctr_ images import "$work/pause.tar" >/dev/null
ctr_ images import "$work/sandbox.tar" >/dev/null
# A second name of the same image: what a repo's sandbox.image names in the
# tests (sandbox TestKubeRepoImage).
ctr_ images tag --force "$SANDBOX_IMAGE" specloop.local/sandbox:repo >/dev/null
ctr_ images ls -q | grep -E 'pause|sandbox'
du -sh "$work/sandbox.tar"
