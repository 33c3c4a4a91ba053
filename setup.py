"""Package metadata comes from settings.ini (nbdev 2 layout); versions are parsed with `packaging`."""
from configparser import ConfigParser
from packaging.version import Version
import setuptools, shlex

cfg = ConfigParser(delimiters=['='])
cfg.read('settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']
Version(cfg['version'])  # fail early on a malformed version
requirements = shlex.split(cfg.get('requirements', ''))
dev_requirements = shlex.split(cfg.get('dev_requirements', ''))
min_python = cfg['min_python']

setuptools.setup(
    name=cfg['lib_name'], version=cfg['version'], description=cfg['description'],
    license='Apache Software License 2.0', author=cfg['author'], author_email=cfg['author_email'],
    # The executable papers ship inside the package (align_nb.paper) so `pip install` users can run them.
    packages=setuptools.find_packages(include=['align_nb', 'align_nb.*']) + ['align_nb.paper'],
    package_dir={'align_nb.paper': 'nbs/paper'}, package_data={'align_nb.paper': ['*.ipynb']},
    install_requires=requirements, extras_require={'dev': dev_requirements},
    python_requires='>=' + min_python,
    long_description=open('README.md', encoding='utf-8').read(), long_description_content_type='text/markdown',
    keywords=cfg['keywords'].split(), url=cfg['git_url'], project_urls={'Source': cfg['git_url']},
    classifiers=['Programming Language :: Python :: 3', 'License :: OSI Approved :: Apache Software License',
                 'Intended Audience :: Science/Research', 'Topic :: Scientific/Engineering :: Artificial Intelligence'],
    zip_safe=False,
    entry_points={'console_scripts': cfg.get('console_scripts', '').split(),
                  'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
)
