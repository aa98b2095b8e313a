#include <iostream>

#include "server/app.h"

POCO_SERVER_MAIN(server::MeridianApp)
