// regionlm-segment: masks from clicks, a box or scribbles with Segment Anything (see README.md).
#include "segment/segment_app.hpp"

int main(int argc, char** argv) { return regionlm::examples::segment_main(argc, argv); }
