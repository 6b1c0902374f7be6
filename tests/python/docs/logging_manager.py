# The documentation's Logging section session, as a script: a manager started and deleted with
# logging at INFO on standard error.
import logging
import multiprocessing

if __name__ == '__main__':
    logger = multiprocessing.log_to_stderr()
    logger.setLevel(logging.INFO)
    logger.warning('doomed')
    m = multiprocessing.Manager()
    del m
