/* Human-readable class names of the well-known datasets. */
#include <string.h>

#include "data/data_impl.h"

static const char *const fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
static const char *const digit_names[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
static const char *const cifar10_names[10] = {"airplane", "automobile", "bird", "cat", "deer",
                                              "dog",      "frog",       "horse", "ship", "truck"};

const char *mla_dataset_class_name(const mla_dataset *ds, int k) {
    if (k < 0 || k >= 10) return NULL;
    if (!strcmp(ds->name, "fashion-mnist")) return fashion_names[k];
    if (!strcmp(ds->name, "mnist")) return digit_names[k];
    if (!strcmp(ds->name, "cifar10")) return cifar10_names[k];
    return NULL;
}
