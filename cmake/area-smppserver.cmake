# SMPP server: the worker pool needs pthreads.
find_package(Threads REQUIRED)
target_link_libraries(ussdgw_core PUBLIC Threads::Threads)
