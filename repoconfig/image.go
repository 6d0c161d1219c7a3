package repoconfig

import (
	"fmt"
	"strings"
)

// ImagesSetting is the worker setting that allows per-repo sandbox images.
const ImagesSetting = "KUBE_IMAGES"

// ImageAllowed checks the repo's sandbox.image against the operator's
// allow-list (KUBE_IMAGES, comma-separated): an entry allows the image it
// names exactly, or, ending in "/" or ":", every image under that path or
// every tag of that repository. No entries refuse every per-repo image: a
// repo must not choose what runs with the worker's sandbox privileges
// unless the operator said so. The error names the image and the setting.
func ImageAllowed(image string, allow []string) error {
	if image == "" {
		return nil
	}
	for _, a := range allow {
		a = strings.TrimSpace(a)
		switch {
		case a == "":
		case a == image:
			return nil
		case (strings.HasSuffix(a, "/") || strings.HasSuffix(a, ":")) && strings.HasPrefix(image, a) && len(image) > len(a):
			return nil
		}
	}
	if len(allow) == 0 {
		return fmt.Errorf("sandbox.image %q: this installation runs no per-repo sandbox images; its operator allows them with the worker setting %s (image references, or prefixes ending in / or :), or remove sandbox.image", image, ImagesSetting)
	}
	return fmt.Errorf("sandbox.image %q is not among the images this installation allows (%s=%s): ask its operator to add it, or use one of those", image, ImagesSetting, strings.Join(allow, ","))
}
