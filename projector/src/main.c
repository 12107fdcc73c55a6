/* main.c - sf-projector: everything happens in the library. */
#include "sf_projector.h"

int main(int argc, char **argv) {
    return sf_projector_main(argc, argv);
}
